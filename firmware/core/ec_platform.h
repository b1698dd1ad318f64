/* ec_platform.h - the seams between the portable core and a target.
 *
 * Declared here, implemented once per target:
 *   firmware/esp32/main/ec_platform_esp32.c  (esp_timer, esp-mqtt, ESP_LOG, NVS)
 *   firmware/tests/ec_platform_host.c        (host fakes for the unit tests: a settable
 *                                             clock, a recorded publish list, an
 *                                             in-memory key/value store)
 * The core calls nothing else outside libc's string functions.
 */
#ifndef EC_PLATFORM_H
#define EC_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { EC_LOG_ERROR = 0, EC_LOG_WARN = 1, EC_LOG_INFO = 2, EC_LOG_DEBUG = 3 } ec_log_level_t;

/* Monotonic milliseconds since boot. */
uint64_t ec_platform_now_ms(void);

/* Queue one MQTT publish. 0 when accepted by the client, < 0 (ec_err_t) otherwise
 * (not connected, outbox full): the caller keeps the message in its ring. */
int ec_platform_publish(const char *topic, const uint8_t *payload, size_t len, int qos,
                        bool retain);

/* One log line, without a trailing newline. */
void ec_platform_log(ec_log_level_t level, const char *msg);

/* Persistent settings: NUL-terminated values by short key (<= 15 chars).
 * get: 0 and value copied; EC_ERR_NOT_FOUND; EC_ERR_NOSPACE when cap is too small.
 * set: 0, or EC_ERR_IO. */
int ec_platform_storage_get(const char *key, char *value, size_t cap);
int ec_platform_storage_set(const char *key, const char *value);

#endif /* EC_PLATFORM_H */
