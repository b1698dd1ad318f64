/* ec_prov_settings.h - the device's provisioned settings, validated in one place.
 *
 * Values are kept as the text the user gave (what `EC GET` answers) and checked on
 * every set:
 *   wifi_ssid         1..32 printable ASCII characters (spaces allowed)
 *   wifi_pass         empty (open network) or 8..64 printable ASCII characters
 *   broker_url        mqtt://... or mqtts://..., 8..96 characters, no spaces
 *   device_id         [A-Za-z0-9_-]{1,64}
 *   conf_threshold    decimal in 0..1       (grammar: [0-9]{1,6}(.[0-9]{1,9})?)
 *   margin_threshold  decimal in 0..1
 *   complexity_limit  decimal >= 0
 *   mqtt_user         empty (no login) or [A-Za-z0-9_-]{1,64}: the broker username
 *   mqtt_pass         empty or 8..64 printable ASCII characters, no spaces (GET: ***)
 *   ca_cert           the site CA (DER) in base64, [A-Za-z0-9+/=]; at most 96
 *                     characters per SET, extended by ec_settings_append up to
 *                     EC_CA_CERT_MAX in all (an mqtts:// broker is verified against it)
 * A decimal's value is the float32 nearest to the double nearest to the text, the
 * same as Python's to_float32(float(text)).
 */
#ifndef EC_PROV_SETTINGS_H
#define EC_PROV_SETTINGS_H

#include <stddef.h>

#include "ec_err.h"
#include "ec_policy.h"

typedef enum {
    EC_SET_WIFI_SSID = 0,
    EC_SET_WIFI_PASS,
    EC_SET_BROKER_URL,
    EC_SET_DEVICE_ID,
    EC_SET_CONF_THRESHOLD,
    EC_SET_MARGIN_THRESHOLD,
    EC_SET_COMPLEXITY_LIMIT,
    EC_SET_MQTT_USER,
    EC_SET_MQTT_PASS,
    EC_SET_CA_CERT,
    EC_SETTING_COUNT
} ec_setting_t;

#define EC_SETTING_MAX_LEN 96u
#define EC_CA_CERT_MAX 1536u

typedef struct {
    char value[EC_SETTING_COUNT][EC_SETTING_MAX_LEN + 1u];
    char ca_cert[EC_CA_CERT_MAX + 1u]; /* EC_SET_CA_CERT lives here, not in value[] */
} ec_settings_t;

/* The key's name ("wifi_ssid"...), or NULL. */
const char *ec_setting_name(ec_setting_t key);
/* The key for a name of len bytes, or -1. */
int ec_setting_lookup(const char *name, size_t len);

/* Parse a decimal (grammar above) into *out. EC_ERR_MALFORMED when it does not match. */
int ec_parse_decimal(const char *text, size_t len, float *out);

/* Validate and store. On error *why (may be NULL) gets a short reason:
 * "too_long", "bad_value" or "out_of_range"; the stored value is unchanged. */
int ec_settings_set(ec_settings_t *s, ec_setting_t key, const char *value, size_t len,
                    const char **why);
const char *ec_settings_get(const ec_settings_t *s, ec_setting_t key);
/* Append to an appendable key (only ca_cert): same checks per chunk, "too_long" when
 * the total would pass EC_CA_CERT_MAX, "not_appendable" for any other key. */
int ec_settings_append(ec_settings_t *s, ec_setting_t key, const char *value, size_t len,
                       const char **why);

/* Thresholds from the stored text (EC_ERR_RANGE if a stored value is bad or empty). */
int ec_settings_thresholds(const ec_settings_t *s, ec_thresholds_t *out);

/* Persist every key / load the stored ones through the platform storage seam.
 * load leaves keys absent from storage (or invalid there) at their current value. */
int ec_settings_save(const ec_settings_t *s);
int ec_settings_load(ec_settings_t *s);

#endif /* EC_PROV_SETTINGS_H */
