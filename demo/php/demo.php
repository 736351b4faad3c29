<?php
// The PHP half of the demo: verifies the hash the Node app made, checks that
// PHP's own password_verify agrees, and shows a typed error.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

$attache = new Attache\Client();
$say = fn (string $s) => print("[php]  $s\n");

$hash = getenv('DEMO_HASH') ?: exit("set DEMO_HASH\n");
$v = $attache->password->verify('correct horse battery staple', $hash);
$say("verify(node's hash) -> valid=" . json_encode($v->valid) . ' needsRehash=' . json_encode($v->needsRehash));
$say("password_verify()   -> " . json_encode(password_verify('correct horse battery staple', $hash)) . ' (PHP agrees)');

$t = hrtime(true);
$bcrypt = $attache->password->hash('php-secret', 'bcrypt');
$say(sprintf('hash(bcrypt)        -> %s (%.1f ms)', $bcrypt, (hrtime(true) - $t) / 1e6));
$say('password_verify()   -> ' . json_encode(password_verify('php-secret', $bcrypt)));

try {
    $attache->password->verify('x', 'not-a-hash');
} catch (Attache\InvalidArgumentException $e) {
    $say("verify(garbage)     -> " . get_class($e) . " [{$e->errorCode}]: {$e->getMessage()}");
}

// Redis: the value the Node app read is already in the sidecar's cache, so
// this short-lived PHP process gets a hit on its first read.
$t = hrtime(true);
$read = $attache->redis->doCached(['GET', 'demo:user:42:name']);
$say(sprintf('redis doCached(GET)  -> %s (cache hit: %s, %.2f ms; cached by the Node app)', $read['value'], json_encode($read['cacheHit']), (hrtime(true) - $t) / 1e6));
$attache->redis->set('demo:user:42:name', 'Grace');
$say("redis set(name)      -> Grace (Redis invalidates the cached value)");
