/* ec_report_opts.c - see ec_report_opts.h. */
#include "ec_report_opts.h"

#include "ec_err.h"

int ec_report_apply_opts(ec_report_t *rep, const ec_report_opts_t *opts)
{
    if (rep == NULL || opts == NULL) {
        return EC_ERR_ARG;
    }
    if (opts->priority > 255) {
        return EC_ERR_RANGE;
    }
    rep->has_deadline = opts->deadline_ms != 0;
    rep->deadline_ms = opts->deadline_ms;
    rep->has_priority = opts->priority >= 0;
    rep->priority = rep->has_priority ? (uint8_t)opts->priority : 0;
    rep->is_private = opts->is_private;
    return EC_OK;
}
