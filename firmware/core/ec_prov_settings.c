#include "ec_prov_settings.h"

#include <string.h>

#include "ec_platform.h"
#include "ec_report.h"

static const char *const names[EC_SETTING_COUNT] = {
    "wifi_ssid",      "wifi_pass",        "broker_url",       "device_id",
    "conf_threshold", "margin_threshold", "complexity_limit", "mqtt_user",
    "mqtt_pass",      "ca_cert",
};

/* Storage keys: NVS keys are at most 15 characters. */
static const char *const storage_keys[EC_SETTING_COUNT] = {
    "wifi_ssid", "wifi_pass", "broker_url", "device_id", "conf_thr", "margin_thr", "cplx_limit",
    "mqtt_user", "mqtt_pass", "ca_cert",
};

const char *ec_setting_name(ec_setting_t key)
{
    return (unsigned)key < (unsigned)EC_SETTING_COUNT ? names[key] : NULL;
}

int ec_setting_lookup(const char *name, size_t len)
{
    int i;
    for (i = 0; i < (int)EC_SETTING_COUNT; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

int ec_parse_decimal(const char *text, size_t len, float *out)
{
    uint64_t mantissa = 0;
    double scale = 1.0;
    size_t i = 0;
    size_t int_digits = 0;
    size_t frac_digits = 0;
    if (text == NULL || out == NULL) {
        return EC_ERR_ARG;
    }
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++, int_digits++) {
        mantissa = mantissa * 10u + (uint64_t)(text[i] - '0');
    }
    if (int_digits < 1 || int_digits > 6) {
        return EC_ERR_MALFORMED;
    }
    if (i < len) {
        if (text[i] != '.') {
            return EC_ERR_MALFORMED;
        }
        for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++, frac_digits++) {
            mantissa = mantissa * 10u + (uint64_t)(text[i] - '0');
            scale *= 10.0;
        }
        if (frac_digits < 1 || frac_digits > 9 || i != len) {
            return EC_ERR_MALFORMED;
        }
    }
    /* mantissa < 10^15 < 2^53 and scale = 10^k (k <= 9) are exact doubles, so the
     * quotient is the correctly rounded double of the decimal, as Python's float(). */
    *out = (float)((double)mantissa / scale);
    return EC_OK;
}

static int printable(const char *v, size_t len, int allow_space)
{
    size_t i;
    for (i = 0; i < len; i++) {
        char c = v[i];
        if (c < ' ' || c > '~' || (c == ' ' && !allow_space)) {
            return 0;
        }
    }
    return 1;
}

static int base64_chars(const char *v, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=')) {
            return 0;
        }
    }
    return 1;
}

static const char *check(ec_setting_t key, const char *v, size_t len)
{
    char id[EC_MAX_ID_LENGTH + 1u];
    float f;
    switch (key) {
    case EC_SET_WIFI_SSID:
        if (len > 32u) {
            return "too_long";
        }
        return len >= 1u && printable(v, len, 1) ? NULL : "bad_value";
    case EC_SET_WIFI_PASS:
        if (len > 64u) {
            return "too_long";
        }
        return (len == 0u || len >= 8u) && printable(v, len, 1) ? NULL : "bad_value";
    case EC_SET_BROKER_URL:
        if (len > EC_SETTING_MAX_LEN) {
            return "too_long";
        }
        if (!printable(v, len, 0)) {
            return "bad_value";
        }
        if ((len > 7u && memcmp(v, "mqtt://", 7) == 0) ||
            (len > 8u && memcmp(v, "mqtts://", 8) == 0)) {
            return NULL;
        }
        return "bad_value";
    case EC_SET_DEVICE_ID:
    case EC_SET_MQTT_USER:
        if (len > EC_MAX_ID_LENGTH) {
            return "too_long";
        }
        if (len == 0u && key == EC_SET_MQTT_USER) {
            return NULL;
        }
        memcpy(id, v, len);
        id[len] = '\0';
        return ec_id_valid(id) && strlen(id) == len ? NULL : "bad_value";
    case EC_SET_MQTT_PASS:
        if (len > 64u) {
            return "too_long";
        }
        return (len == 0u || len >= 8u) && printable(v, len, 0) ? NULL : "bad_value";
    case EC_SET_CA_CERT:
        if (len > EC_SETTING_MAX_LEN) {
            return "too_long";
        }
        return base64_chars(v, len) ? NULL : "bad_value";
    case EC_SET_CONF_THRESHOLD:
    case EC_SET_MARGIN_THRESHOLD:
    case EC_SET_COMPLEXITY_LIMIT:
        if (len > 16u) {
            return "too_long";
        }
        if (ec_parse_decimal(v, len, &f) != EC_OK) {
            return "bad_value";
        }
        return (key == EC_SET_COMPLEXITY_LIMIT || f <= 1.0f) ? NULL : "out_of_range";
    default:
        return "unknown_key";
    }
}

int ec_settings_set(ec_settings_t *s, ec_setting_t key, const char *value, size_t len,
                    const char **why)
{
    const char *problem;
    if (s == NULL || (value == NULL && len > 0) || (unsigned)key >= (unsigned)EC_SETTING_COUNT) {
        if (why != NULL) {
            *why = "unknown_key";
        }
        return EC_ERR_ARG;
    }
    problem = check(key, value == NULL ? "" : value, len);
    if (problem != NULL) {
        if (why != NULL) {
            *why = problem;
        }
        return problem[0] == 'o' ? EC_ERR_RANGE : EC_ERR_MALFORMED;
    }
    {
        char *dst = key == EC_SET_CA_CERT ? s->ca_cert : s->value[key];
        if (len > 0) {
            memcpy(dst, value, len);
        }
        dst[len] = '\0';
    }
    return EC_OK;
}

int ec_settings_append(ec_settings_t *s, ec_setting_t key, const char *value, size_t len,
                       const char **why)
{
    const char *problem;
    size_t have;
    if (s == NULL || (value == NULL && len > 0) || (unsigned)key >= (unsigned)EC_SETTING_COUNT) {
        problem = "unknown_key";
    } else if (key != EC_SET_CA_CERT) {
        problem = "not_appendable";
    } else {
        problem = check(key, value == NULL ? "" : value, len);
        have = strlen(s->ca_cert);
        if (problem == NULL && have + len > EC_CA_CERT_MAX) {
            problem = "too_long";
        }
        if (problem == NULL) {
            if (len > 0) {
                memcpy(s->ca_cert + have, value, len);
            }
            s->ca_cert[have + len] = '\0';
            return EC_OK;
        }
    }
    if (why != NULL) {
        *why = problem;
    }
    return EC_ERR_MALFORMED;
}

const char *ec_settings_get(const ec_settings_t *s, ec_setting_t key)
{
    if (s == NULL || (unsigned)key >= (unsigned)EC_SETTING_COUNT) {
        return NULL;
    }
    return key == EC_SET_CA_CERT ? s->ca_cert : s->value[key];
}

int ec_settings_thresholds(const ec_settings_t *s, ec_thresholds_t *out)
{
    const char *c;
    const char *m;
    const char *x;
    if (s == NULL || out == NULL) {
        return EC_ERR_ARG;
    }
    c = s->value[EC_SET_CONF_THRESHOLD];
    m = s->value[EC_SET_MARGIN_THRESHOLD];
    x = s->value[EC_SET_COMPLEXITY_LIMIT];
    if (ec_parse_decimal(c, strlen(c), &out->conf_threshold) != EC_OK ||
        ec_parse_decimal(m, strlen(m), &out->margin_threshold) != EC_OK ||
        ec_parse_decimal(x, strlen(x), &out->complexity_limit) != EC_OK ||
        out->conf_threshold > 1.0f || out->margin_threshold > 1.0f) {
        return EC_ERR_RANGE;
    }
    return EC_OK;
}

int ec_settings_save(const ec_settings_t *s)
{
    int i;
    if (s == NULL) {
        return EC_ERR_ARG;
    }
    for (i = 0; i < (int)EC_SETTING_COUNT; i++) {
        if (ec_platform_storage_set(storage_keys[i], ec_settings_get(s, (ec_setting_t)i)) != 0) {
            return EC_ERR_IO;
        }
    }
    return EC_OK;
}

int ec_settings_load(ec_settings_t *s)
{
    static char buf[EC_CA_CERT_MAX + 1u]; /* the CA is long; loads run once, at boot */
    int i;
    int loaded = 0;
    if (s == NULL) {
        return EC_ERR_ARG;
    }
    for (i = 0; i < (int)EC_SETTING_COUNT; i++) {
        size_t cap = i == (int)EC_SET_CA_CERT ? sizeof buf : EC_SETTING_MAX_LEN + 1u;
        size_t n;
        if (ec_platform_storage_get(storage_keys[i], buf, cap) != 0) {
            continue;
        }
        n = strlen(buf);
        if (i == (int)EC_SET_CA_CERT) { /* stored whole: checked as chunks of one SET */
            size_t at;
            static char saved[EC_CA_CERT_MAX + 1u];
            int ok = 1;
            memcpy(saved, s->ca_cert, sizeof saved);
            s->ca_cert[0] = '\0';
            for (at = 0; ok && at < n; at += EC_SETTING_MAX_LEN) {
                size_t part = n - at < EC_SETTING_MAX_LEN ? n - at : EC_SETTING_MAX_LEN;
                ok = ec_settings_append(s, EC_SET_CA_CERT, buf + at, part, NULL) == EC_OK;
            }
            if (!ok) {
                memcpy(s->ca_cert, saved, sizeof saved);
                continue;
            }
            loaded++;
        } else if (ec_settings_set(s, (ec_setting_t)i, buf, n, NULL) == EC_OK) {
            loaded++;
        }
    }
    return loaded;
}
