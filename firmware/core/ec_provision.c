#include "ec_provision.h"

#include <stdio.h>
#include <string.h>

int ec_provision_init(ec_provision_t *p, ec_settings_t *settings, const char *fw_version)
{
    if (p == NULL || settings == NULL || fw_version == NULL) {
        return EC_ERR_ARG;
    }
    memset(p, 0, sizeof *p);
    p->settings = settings;
    p->fw_version = fw_version;
    return EC_OK;
}

/* Build "a b c\n" from NUL-terminated parts (NULL parts skipped), truncating to fit
 * cap (which the caller guarantees is >= EC_LINE_MAX + 2); returns the length. */
static int answer(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3];
    size_t len = 0;
    size_t i;
    parts[0] = a;
    parts[1] = b;
    parts[2] = c;
    for (i = 0; i < 3u; i++) {
        size_t n;
        if (parts[i] == NULL) {
            continue;
        }
        n = strlen(parts[i]);
        if (n > cap - 2u - len) {
            n = cap - 2u - len;
        }
        memcpy(out + len, parts[i], n);
        len += n;
    }
    out[len++] = '\n';
    out[len] = '\0';
    return (int)len;
}

/* "EC ERR <key> <why>", the key echoed only when it is a plain [a-z_]{1,32} token. */
static int key_error(char *out, size_t cap, const char *key, size_t key_len, const char *why)
{
    char shown[40];
    size_t i;
    int token = key_len >= 1u && key_len <= 32u;
    for (i = 0; token && i < key_len; i++) {
        token = (key[i] >= 'a' && key[i] <= 'z') || key[i] == '_';
    }
    if (token) {
        memcpy(shown, key, key_len);
        shown[key_len] = ' ';
        shown[key_len + 1u] = '\0';
    } else {
        memcpy(shown, "- ", 3);
    }
    return answer(out, cap, "EC ERR ", shown, why);
}

static int starts(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0;
}

/* "SET key value" replaces a setting, "ADD key value" appends to it (long values such as
 * the CA certificate arrive in chunks); both answer the same way. */
static int handle_write(ec_provision_t *p, const char *args, size_t len, char *out, size_t cap,
                        int append)
{
    const char *sp = memchr(args, ' ', len);
    size_t key_len = sp != NULL ? (size_t)(sp - args) : len;
    const char *value = sp != NULL ? sp + 1 : args + len;
    size_t value_len = sp != NULL ? len - key_len - 1u : 0u;
    int key = ec_setting_lookup(args, key_len);
    const char *why = "bad_value";
    int rc;
    if (key < 0) {
        return key_error(out, cap, args, key_len, "unknown_key");
    }
    rc = append ? ec_settings_append(p->settings, (ec_setting_t)key, value, value_len, &why)
                : ec_settings_set(p->settings, (ec_setting_t)key, value, value_len, &why);
    if (rc != EC_OK) {
        return key_error(out, cap, args, key_len, why);
    }
    return answer(out, cap, "EC OK", NULL, NULL);
}

static int handle_get(ec_provision_t *p, const char *args, size_t len, char *out, size_t cap)
{
    int key = ec_setting_lookup(args, len);
    const char *value;
    if (key < 0) {
        return key_error(out, cap, args, len, "unknown_key");
    }
    value = ec_settings_get(p->settings, (ec_setting_t)key);
    if (key == (int)EC_SET_WIFI_PASS || key == (int)EC_SET_MQTT_PASS) {
        value = "***"; /* secrets are write-only */
    } else if (value == NULL || value[0] == '\0') {
        value = "-";
    } else if (key == (int)EC_SET_CA_CERT) { /* too long for a line: its length */
        char n[12];
        snprintf(n, sizeof n, "%u", (unsigned)strlen(value));
        return answer(out, cap, "EC OK ", n, NULL);
    }
    return answer(out, cap, "EC OK ", value, NULL);
}

int ec_provision_handle_line(ec_provision_t *p, const char *line, size_t len, uint64_t now_ms,
                             char *out, size_t cap)
{
    if (p == NULL || line == NULL || out == NULL || cap < EC_LINE_MAX + 2u) {
        return EC_ERR_ARG;
    }
    if (len > 0 && line[len - 1u] == '\r') {
        len--;
    }
    if (len == 0) {
        return 0;
    }
    p->last_ms = now_ms;
    if (len == 8 && starts(line, len, "EC HELLO")) {
        const char *id = ec_settings_get(p->settings, EC_SET_DEVICE_ID);
        char head[48];
        size_t n = strlen(p->fw_version);
        if (n > 32u) {
            n = 32u;
        }
        memcpy(head, "EC OK ", 6);
        memcpy(head + 6, p->fw_version, n);
        head[6u + n] = ' ';
        head[7u + n] = '\0';
        p->paused = true;
        return answer(out, cap, head, (id != NULL && id[0] != '\0') ? id : "-", NULL);
    }
    if (starts(line, len, "EC SET ")) {
        return handle_write(p, line + 7, len - 7u, out, cap, 0);
    }
    if (starts(line, len, "EC ADD ")) {
        return handle_write(p, line + 7, len - 7u, out, cap, 1);
    }
    if (starts(line, len, "EC GET ")) {
        return handle_get(p, line + 7, len - 7u, out, cap);
    }
    if (len == 9 && starts(line, len, "EC COMMIT")) {
        if (ec_settings_save(p->settings) != EC_OK) {
            return answer(out, cap, "EC ERR - storage", NULL, NULL);
        }
        return answer(out, cap, "EC OK", NULL, NULL);
    }
    if (len == 7 && starts(line, len, "EC EXIT")) {
        p->paused = false;
        return answer(out, cap, "EC OK", NULL, NULL);
    }
    if (len == 9 && starts(line, len, "EC REBOOT")) {
        p->paused = false;
        p->reboot_requested = true;
        return answer(out, cap, "EC OK", NULL, NULL);
    }
    return answer(out, cap, "EC ERR - unknown_command", NULL, NULL);
}

int ec_provision_feed(ec_provision_t *p, uint8_t byte, uint64_t now_ms, char *out, size_t cap)
{
    if (p == NULL || out == NULL || cap < EC_LINE_MAX + 2u) {
        return EC_ERR_ARG;
    }
    if (byte == (uint8_t)'\n') {
        size_t len = p->line_len;
        bool overflow = p->line_overflow;
        p->line_len = 0;
        p->line_overflow = false;
        if (overflow) {
            p->last_ms = now_ms;
            return answer(out, cap, "EC ERR - line_too_long", NULL, NULL);
        }
        return ec_provision_handle_line(p, p->line, len, now_ms, out, cap);
    }
    if (p->line_overflow) {
        return 0;
    }
    if (p->line_len >= EC_LINE_MAX - 1u) { /* room for the \n makes EC_LINE_MAX */
        p->line_overflow = true;
        return 0;
    }
    p->line[p->line_len++] = (char)byte;
    return 0;
}

bool ec_provision_paused(ec_provision_t *p, uint64_t now_ms)
{
    if (p == NULL) {
        return false;
    }
    if (p->paused && now_ms - p->last_ms >= EC_PROVISION_IDLE_MS) {
        p->paused = false;
    }
    return p->paused;
}
