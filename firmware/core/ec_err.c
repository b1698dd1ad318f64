#include "ec_err.h"

const char *ec_err_name(int err)
{
    switch (err) {
    case EC_OK: return "ok";
    case EC_ERR_ARG: return "arg";
    case EC_ERR_NOSPACE: return "nospace";
    case EC_ERR_TRUNCATED: return "truncated";
    case EC_ERR_MALFORMED: return "malformed";
    case EC_ERR_TYPE: return "type";
    case EC_ERR_RANGE: return "range";
    case EC_ERR_MISSING: return "missing";
    case EC_ERR_SCHEMA: return "schema";
    case EC_ERR_CRC: return "crc";
    case EC_ERR_TOO_BIG: return "too_big";
    case EC_ERR_DROPPED: return "dropped";
    case EC_ERR_EMPTY: return "empty";
    case EC_ERR_NOT_FOUND: return "not_found";
    case EC_ERR_IO: return "io";
    default: return "unknown";
    }
}
