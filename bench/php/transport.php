<?php
// Round-trip latency from PHP of a trivial unary call through the SDK
// (SidecarService.GetInfo, Connect JSON over HTTP/1.1 on the socket),
// beside two raw Unix-socket echoes of 32 bytes from PHP's own stream (the
// floors): one blocking thread per connection and tokio. Each server's CPU
// per call is read from /proc over its run; the servers take turns in
// rounds so drift falls on all of them alike.
// Usage: php transport.php ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N
//   -> JSON on stdout.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

const ROUNDS = 5;

function server(string $arg): array
{
    $at = strrpos($arg, ':');
    return [substr($arg, 0, $at), (int) substr($arg, $at + 1)];
}

[$attacheSocket, $attachePid] = server($argv[1]);
[$echoSocket, $echoPid] = server($argv[2]);
[$asyncSocket, $asyncPid] = server($argv[3]);
$n = (int) $argv[4];
$perRound = intdiv($n, ROUNDS);
$warmup = intdiv($n, 10 * ROUNDS);

/** Nanoseconds $pid has run on a CPU, all its threads (schedstat). */
function cpuNs(int $pid): int
{
    $total = 0;
    foreach (glob("/proc/$pid/task/*/schedstat") ?: [] as $file) {
        $total += (int) explode(' ', (string) @file_get_contents($file))[0];
    }
    return $total;
}

final class Run
{
    public array $samples = [];
    public int $cpu = 0;

    public function time(int $pid, int $warmup, int $calls, callable $call): void
    {
        for ($i = 0; $i < $warmup; $i++) {
            $call();
        }
        $before = cpuNs($pid);
        for ($i = 0; $i < $calls; $i++) {
            $t = hrtime(true);
            $call();
            $this->samples[] = hrtime(true) - $t;
        }
        $this->cpu += cpuNs($pid) - $before;
    }

    public function report(): array
    {
        $s = $this->samples;
        sort($s);
        $at = fn (float $q) => $s[(int) round((count($s) - 1) * $q)] / 1000;
        return ['p50_us' => $at(0.5), 'p99_us' => $at(0.99), 'n' => count($s), 'server_cpu_us_per_call' => $this->cpu / count($s) / 1000];
    }
}

function echoCall($stream): void
{
    fwrite($stream, str_repeat("\x07", 32));
    $got = '';
    while (strlen($got) < 32) {
        $got .= fread($stream, 32 - strlen($got));
    }
}

$blocking = stream_socket_client("unix://$echoSocket");
$tokio = stream_socket_client("unix://$asyncSocket");
$client = new Attache\Client($attacheSocket);
[$floor, $floorTokio, $sdk, $fresh] = [new Run(), new Run(), new Run(), new Run()];
for ($round = 0; $round < ROUNDS; $round++) {
    $floor->time($echoPid, $warmup, $perRound, fn () => echoCall($blocking));
    $floorTokio->time($asyncPid, $warmup, $perRound, fn () => echoCall($tokio));
    $sdk->time($attachePid, $warmup, $perRound, fn () => $client->info());
    // A PHP-FPM request that lives once: a new client (a new connection)
    // per call.
    $fresh->time($attachePid, $warmup, intdiv($perRound, 4), fn () => (new Attache\Client($attacheSocket))->info());
}

echo json_encode([
    'client' => 'php',
    'floor' => $floor->report(),
    'floor_tokio' => $floorTokio->report(),
    'attache' => $sdk->report(),
    'attache_new_connection' => $fresh->report(),
]), "\n";
