<?php

declare(strict_types=1);

namespace Stablegate;

/** 404: no such resource for this merchant (INVOICE_NOT_FOUND, ...). */
class NotFoundException extends ApiException
{
}
