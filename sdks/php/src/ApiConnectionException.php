<?php

declare(strict_types=1);

namespace Stablegate;

/** The request did not get an answer: the connection failed, was reset, or timed out. */
class ApiConnectionException extends StablegateException
{
}
