/* ec_provision.h - the serial provisioning line protocol (firmware/README.md).
 *
 * ASCII lines ending in \n (a trailing \r is ignored), at most EC_LINE_MAX bytes with
 * the \n. Requests and answers:
 *   EC HELLO              -> EC OK <fw_version> <device_id or ->   (pauses reports)
 *   EC SET <key> <value>  -> EC OK | EC ERR <key> <reason>
 *   EC ADD <key> <value>  -> EC OK | EC ERR <key> <reason>   (appends; only ca_cert)
 *   EC GET <key>          -> EC OK <value> (wifi_pass and mqtt_pass answer ***, ca_cert
 *                            its length, empty answers -)
 *   EC COMMIT             -> EC OK | EC ERR - storage
 *   EC EXIT               -> EC OK   (resumes reports)
 *   EC REBOOT             -> EC OK   (then the app reboots)
 *   anything else         -> EC ERR - unknown_command
 *   a line too long       -> EC ERR - line_too_long ; an empty line -> no answer
 * Reports stay paused from HELLO until EXIT, REBOOT or EC_PROVISION_IDLE_MS without
 * a line. SET changes the working settings; COMMIT persists them (storage seam);
 * they take effect at the next boot.
 */
#ifndef EC_PROVISION_H
#define EC_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_prov_settings.h"

#define EC_LINE_MAX 128u
#define EC_PROVISION_IDLE_MS 30000u

typedef struct {
    ec_settings_t *settings;
    const char *fw_version;
    bool paused;
    bool reboot_requested;
    uint64_t last_ms;
    char line[EC_LINE_MAX];
    size_t line_len;
    bool line_overflow;
} ec_provision_t;

int ec_provision_init(ec_provision_t *p, ec_settings_t *settings, const char *fw_version);

/* Answer one line (without its \n). Returns the answer's length (written to out with
 * a \n and a NUL; cap >= EC_LINE_MAX + 2 is always enough), 0 for no answer. */
int ec_provision_handle_line(ec_provision_t *p, const char *line, size_t len, uint64_t now_ms,
                             char *out, size_t cap);

/* Feed one received byte; returns as ec_provision_handle_line when a line completes,
 * 0 otherwise. Over-long lines are discarded up to their \n and answered with
 * EC ERR - line_too_long. */
int ec_provision_feed(ec_provision_t *p, uint8_t byte, uint64_t now_ms, char *out, size_t cap);

/* Whether reports are paused now (the idle timeout ends a pause). */
bool ec_provision_paused(ec_provision_t *p, uint64_t now_ms);

#endif /* EC_PROVISION_H */
