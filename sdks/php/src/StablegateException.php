<?php

declare(strict_types=1);

namespace Stablegate;

/** The root of every error this SDK throws. */
class StablegateException extends \RuntimeException
{
}
