<?php

declare(strict_types=1);

namespace Stablegate;

/** 400: a bad field or request (AMOUNT_INVALID, PAGE_TOKEN_INVALID, ...). */
class BadRequestException extends ApiException
{
}
