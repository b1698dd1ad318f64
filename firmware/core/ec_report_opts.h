/* ec_report_opts.h - the board's per-report service options (deadline, priority,
 * privacy), set once at build time (Kconfig on the ESP32) and stamped on every report.
 *
 * A private board's reports carry `private: true`: the gateway answers them on site and
 * never forwards their frames to the cloud (PROTOCOL.md, reason `privacy`).
 */
#ifndef EC_REPORT_OPTS_H
#define EC_REPORT_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ec_report.h"

typedef struct {
    uint32_t deadline_ms; /* answer budget in ms; 0: field not sent (gateway default) */
    int32_t priority;     /* 0..255; negative: field not sent */
    bool is_private;      /* frames never leave the site */
} ec_report_opts_t;

/* Stamp the options on a report. EC_ERR_ARG for NULL, EC_ERR_RANGE for a priority
 * above 255 (the report is left unchanged then). */
int ec_report_apply_opts(ec_report_t *rep, const ec_report_opts_t *opts);

#endif /* EC_REPORT_OPTS_H */
