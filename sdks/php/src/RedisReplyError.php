<?php
declare(strict_types=1);

namespace Attache;

/**
 * An error reply from Redis (e.g. "WRONGTYPE Operation against a key ...").
 * Thrown by do() and the helpers; inside doMulti() results it is a value.
 */
final class RedisReplyError extends \RuntimeException
{
}
