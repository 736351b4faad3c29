<?php
declare(strict_types=1);

namespace Attache\Monolog;

use Attache\Client;
use Attache\InvalidArgumentException;
use Monolog\Formatter\FormatterInterface;
use Monolog\Formatter\JsonFormatter;
use Monolog\Handler\AbstractProcessingHandler;
use Monolog\LogRecord;

/**
 * A Monolog handler (Monolog 2.4+ or 3) that ships log records to a Kafka
 * topic through attache's durable spool (ACK_SPOOLED): the sidecar keeps
 * them on the host's disk until Kafka has them, so a Kafka outage costs the
 * request nothing.
 *
 *     $log = new Monolog\Logger('app', [new Attache\Monolog\KafkaHandler('app-logs')]);
 *     $log->info('order placed', ['order' => 42]); // a Psr\Log\LoggerInterface
 *
 * Made for short-lived PHP-FPM requests:
 * - Buffered: a request's records go in one Produce call when the handler
 *   is closed (Logger::close(), the end of the script through a shutdown
 *   function, or the handler's destruction), on reset() (long-running
 *   workers call Logger::reset() between jobs), at the end of
 *   handleBatch(), on flush(), and whenever $bufferLimit records or
 *   $bufferBytes bytes are waiting.
 * - Each call has a short deadline ($timeoutMs, 500 ms by default) and is
 *   never retried (Produce is not idempotent). A spooled ack usually takes
 *   about a millisecond, but the sidecar's spool writer also syncs to disk,
 *   and an append may wait behind a slow sync: 500 ms leaves room for that
 *   without holding a request long. A sidecar that is down costs nothing
 *   (the connection is refused at once); one that is stuck costs the
 *   deadline plus the transport's 1 s margin for a hung socket.
 * - It never throws into the application because of attache: when the
 *   sidecar is unreachable, the module is off, the spool is full or the
 *   deadline passes, the records go to the fallback instead — by default
 *   one error_log() line saying why, then each record's formatted line
 *   prefixed with "attache KafkaHandler [topic]:", so that nothing
 *   vanishes; or $onFailure(\Throwable $error, list<string> $values) if
 *   given. failedCount() counts those records and lastError() says why.
 *   After a deadline the records may still have been spooled, and so
 *   arrive in Kafka as well as in the fallback.
 *   A record the sidecar refuses on its own (INVALID_ARGUMENT naming
 *   records[N], e.g. over kafka.max_record_bytes) goes to the fallback
 *   alone and the rest are sent again: nothing of a refused call was
 *   spooled.
 *
 * Each Kafka record's value is the formatted record (one JSON object by
 * default: Monolog's JsonFormatter, without a trailing newline), its
 * timestamp the log record's time, its key $key($record) when a $key
 * closure is given (e.g. a request id from UidProcessor's extra.uid, to
 * keep a request's lines in one partition, in order), else none.
 */
final class KafkaHandler extends AbstractProcessingHandler
{
    /** @var list<array{topic: string, key?: string, value: string, timestampMs: int}> */
    private array $buffer = [];
    private int $bufferedBytes = 0;
    private bool $closeAtShutdown = false;
    private int $failed = 0;
    private ?\Throwable $lastError = null;
    /** @var ?\Closure(\Throwable, list<string>): void */
    private ?\Closure $onFailure;

    /**
     * @param string      $topic       the Kafka topic
     * @param ?Client     $client      the attache client; null: `new Attache\Client()`, made at the first send (so a bad socket setting is a fallback, not an exception at start-up)
     * @param int|string|\Monolog\Level $level the least severe level handled
     * @param int         $timeoutMs   each Produce call's deadline
     * @param int         $bufferLimit records held before they are sent without waiting for close(); 1 sends each record at once
     * @param int         $bufferBytes bytes (values) held before they are sent; keep it well under the sidecar's server.max_request_bytes (4 MiB; values travel base64-encoded)
     * @param ?\Closure(array<string, mixed>|LogRecord): ?string $key the Kafka key of a record; null: none
     * @param ?callable(\Throwable, list<string>): void $onFailure instead of error_log(), given what failed and the formatted records that were not sent
     */
    public function __construct(
        private readonly string $topic,
        private ?Client $client = null,
        $level = 'debug',
        bool $bubble = true,
        private readonly int $timeoutMs = 500,
        private readonly int $bufferLimit = 1000,
        private readonly int $bufferBytes = 1 << 20,
        private readonly ?\Closure $key = null,
        ?callable $onFailure = null,
    ) {
        parent::__construct($level, $bubble);
        $this->onFailure = $onFailure === null ? null : \Closure::fromCallable($onFailure);
    }

    /** Records not sent to attache (given to the fallback instead), since this handler was made. */
    public function failedCount(): int
    {
        return $this->failed;
    }

    /** Why the last records were not sent; null if none has failed. */
    public function lastError(): ?\Throwable
    {
        return $this->lastError;
    }

    /** @param array<string, mixed>|LogRecord $record */
    protected function write(array|LogRecord $record): void
    {
        $value = (string) $record['formatted'];
        $entry = ['topic' => $this->topic, 'value' => $value, 'timestampMs' => (int) $record['datetime']->format('Uv')];
        if ($this->key !== null) {
            $key = ($this->key)($record);
            if ($key !== null) {
                $entry['key'] = (string) $key;
            }
        }
        $size = strlen($value) + strlen($entry['key'] ?? '');
        if ($this->buffer !== [] && $this->bufferedBytes + $size > $this->bufferBytes) {
            $this->flush();
        }
        $this->buffer[] = $entry;
        $this->bufferedBytes += $size;
        if (!$this->closeAtShutdown) {
            // As Monolog's BufferHandler: the end of the request sends what is left.
            register_shutdown_function([$this, 'close']);
            $this->closeAtShutdown = true;
        }
        if (count($this->buffer) >= $this->bufferLimit || $this->bufferedBytes >= $this->bufferBytes) {
            $this->flush();
        }
    }

    /** Sends the records in one Produce call (at the end of it, so that they go together). */
    public function handleBatch(array $records): void
    {
        parent::handleBatch($records);
        $this->flush();
    }

    /**
     * Sends what is buffered now, in one Produce call. Never throws: what
     * could not be sent goes to the fallback.
     */
    public function flush(): void
    {
        $records = $this->buffer;
        $this->buffer = [];
        $this->bufferedBytes = 0;
        // A record the sidecar refuses alone is set aside and the others
        // are sent again (a refused call spooled nothing), a few times.
        for ($pass = 0; $records !== []; $pass++) {
            try {
                $this->client ??= new Client();
                $this->client->kafka->produce($records, 'spooled', $this->timeoutMs);
                return;
            } catch (\Throwable $e) {
                // The field is in the error's detail, and leads its message.
                $field = $e instanceof InvalidArgumentException ? ($e->metadata['field'] ?? $e->getMessage()) : '';
                $bad = $pass < 3 && preg_match('/^records\[(\d+)\]/', $field, $m) === 1 && isset($records[(int) $m[1]])
                    ? (int) $m[1] : null;
                if ($bad === null) {
                    $this->fail($e, $records);
                    return;
                }
                $this->fail($e, [$records[$bad]]);
                unset($records[$bad]);
                $records = array_values($records);
            }
        }
    }

    public function close(): void
    {
        $this->flush();
        parent::close();
    }

    public function reset(): void
    {
        $this->flush();
        parent::reset();
    }

    protected function getDefaultFormatter(): FormatterInterface
    {
        // One JSON object per Kafka record, no newline after it.
        return new JsonFormatter(JsonFormatter::BATCH_MODE_JSON, false);
    }

    /** @param list<array{value: string}> $records */
    private function fail(\Throwable $error, array $records): void
    {
        $this->failed += count($records);
        $this->lastError = $error;
        $values = array_map(static fn (array $r): string => $r['value'], $records);
        try {
            if ($this->onFailure !== null) {
                ($this->onFailure)($error, $values);
                return;
            }
            $why = str_replace("\n", ' ', get_class($error) . ': ' . $error->getMessage());
            error_log(sprintf('attache KafkaHandler: %d log record(s) for Kafka topic "%s" were not sent (%s); they follow', count($values), $this->topic, $why));
            foreach ($values as $value) {
                error_log("attache KafkaHandler [{$this->topic}]: $value");
            }
        } catch (\Throwable) {
            // Logging must not break the application, nor its fallback.
        }
    }
}
