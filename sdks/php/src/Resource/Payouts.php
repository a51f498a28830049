<?php

declare(strict_types=1);

namespace Stablegate\Resource;

use Stablegate\Client;
use Stablegate\Model\PayoutQuote;

/** `/v1/payouts`. */
final class Payouts
{
    public function __construct(private readonly Client $client)
    {
    }

    /** What a payout of `$amount` would cost now, and whether the available balance covers it. */
    public function quote(?string $amount = null, ?string $asset = null): PayoutQuote
    {
        return PayoutQuote::fromArray($this->client->request('GET', '/v1/payouts:quote', ['amount' => $amount, 'asset' => $asset]));
    }
}
