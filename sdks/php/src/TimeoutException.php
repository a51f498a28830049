<?php

declare(strict_types=1);

namespace Stablegate;

/** 408 or 504: the edge timed out. */
class TimeoutException extends ApiException
{
}
