<?php

declare(strict_types=1);

namespace Stablegate;

/** 401: no usable API key (API_KEY_MISSING, API_KEY_INVALID, ...). */
class AuthenticationException extends ApiException
{
}
