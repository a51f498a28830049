<?php

declare(strict_types=1);

namespace Stablegate\Resource;

use Stablegate\Client;
use Stablegate\Model\Balance as BalanceModel;

/** `/v1/balance`. */
final class Balance
{
    public function __construct(private readonly Client $client)
    {
    }

    /** The merchant's balance per asset. */
    public function get(): BalanceModel
    {
        return BalanceModel::fromArray($this->client->request('GET', '/v1/balance'));
    }
}
