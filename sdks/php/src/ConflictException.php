<?php

declare(strict_types=1);

namespace Stablegate;

/** 409: REQUEST_ID_REUSED or ORDER_ID_EXISTS. */
class ConflictException extends ApiException
{
}
