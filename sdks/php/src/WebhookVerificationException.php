<?php

declare(strict_types=1);

namespace Stablegate;

/** A webhook failed verification; `reason` says why (SIGNATURE_INVALID, TIMESTAMP_TOO_OLD, ...). */
class WebhookVerificationException extends StablegateException
{
    public function __construct(public readonly string $reason, string $message)
    {
        parent::__construct($message);
    }
}
