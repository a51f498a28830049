<?php

declare(strict_types=1);

namespace Stablegate;

/** 429: over a rate limit (RATE_LIMITED). */
class RateLimitException extends ApiException
{
}
