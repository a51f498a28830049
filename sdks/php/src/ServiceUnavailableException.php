<?php

declare(strict_types=1);

namespace Stablegate;

/** 503: a service is down or keys cannot be verified right now. */
class ServiceUnavailableException extends ApiException
{
}
