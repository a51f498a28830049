<?php

declare(strict_types=1);

namespace Stablegate;

/** 400 with gRPC code 9: the resource is not in a state that allows the call (INVOICE_NOT_CANCELABLE). */
class FailedPreconditionException extends BadRequestException
{
}
