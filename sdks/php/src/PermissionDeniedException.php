<?php

declare(strict_types=1);

namespace Stablegate;

/** 403: the key may not make this call (SCOPE_MISSING, ...). */
class PermissionDeniedException extends ApiException
{
}
