<?php
// The PHP half of the demo: verifies the hash the Node app made, checks that
// PHP's own password_verify agrees, and shows a typed error.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

$attache = new Attache\Client();
$say = fn (string $s) => print("[php]  $s\n");

$hash = getenv('DEMO_HASH');
if ($hash === false || $hash === '') {
    fwrite(STDERR, "set DEMO_HASH\n");
    exit(1);
}
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

// Postgres: this short-lived process opens no database connection of its
// own; it uses the pool the Node app used.
$conns = $attache->postgres->query("select count(*) as n from pg_stat_activity where application_name like 'attache%'");
$say("postgres connections -> {$conns[0]['n']} (the same pool the Node app used)");
$users = $attache->postgres->query('select count(*) as n from demo_users');
$say("postgres count       -> {$users[0]['n']} users (Node's inserts)");
$attache->postgres->query('update demo_users set name = $1 where email = $2', ['Ada Lovelace', 'ada@example.com']);
$say("postgres update      -> Ada Lovelace (drops the Node app's cached read before it answers)");

// Images: a thumbnail set from one upload, decoded once on the sidecar.
$upload = file_get_contents(__DIR__ . '/../../target/images/orientation_6.jpg');
$probe = $attache->image->probe($upload);
$say(sprintf('image probe()        -> %dx%d stored, EXIF orientation %d, upright %dx%d',
    $probe['width'], $probe['height'], $probe['orientation'], $probe['uprightWidth'], $probe['uprightHeight']));
$t = hrtime(true);
$set = $attache->image->resizeMany($upload, [
    ['width' => 400],
    ['width' => 160, 'height' => 160, 'fit' => 'cover', 'gravity' => 'entropy', 'format' => 'webp'],
    ['width' => 64, 'height' => 64, 'format' => 'png'],
]);
$say(sprintf('image resizeMany()   -> %s (upright, %.1f ms)', implode(', ', array_map(
    fn ($o) => "{$o->width}x{$o->height} {$o->format} " . strlen($o->data) . ' B', $set)), (hrtime(true) - $t) / 1e6));

// Kafka: this short-lived process cannot hold a consumer stream, so it
// leases records from the group's consumer the sidecar keeps, and commits
// what it handled; what it does not commit goes to the next caller.
$orders = 0;
$total = 0;
$started = hrtime(true);
while ($orders < 1001 && hrtime(true) - $started < 20e9) {
    $lease = $attache->kafka->fetch('demo-billing', ['demo.orders'], maxRecords: 500, maxWaitMs: 2000);
    foreach ($lease->records as $record) {
        $total += json_decode($record['value'], true)['total'];
    }
    $orders += count($lease->records);
    $lease->commit();
}
$say(sprintf('kafka fetch+commit  -> %d orders from group demo-billing, total %d (%.0f ms)', $orders, $total, (hrtime(true) - $started) / 1e6));
$again = $attache->kafka->fetch('demo-billing', ['demo.orders'], maxRecords: 10, maxWaitMs: 300);
$say('kafka fetch again   -> ' . count($again->records) . ' records (everything was committed)');
