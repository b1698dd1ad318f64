/* ec_platform.h for ESP32: esp_timer clock, esp-mqtt publish, ESP_LOG, NVS storage. */
#include "ec_platform.h"

#include <stdatomic.h>

#include "ec_err.h"
#include "ec_platform_esp32.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "nvs.h"

#define NVS_NAMESPACE "edgecascade"

static const char *TAG = "ec";
static esp_mqtt_client_handle_t s_client;
static atomic_bool s_connected;

void ec_esp32_bind_mqtt(esp_mqtt_client_handle_t client)
{
    s_client = client;
}

void ec_esp32_set_connected(bool connected)
{
    atomic_store(&s_connected, connected);
}

bool ec_esp32_connected(void)
{
    return atomic_load(&s_connected);
}

uint64_t ec_platform_now_ms(void)
{
    return (uint64_t)(esp_timer_get_time() / 1000);
}

int ec_platform_publish(const char *topic, const uint8_t *payload, size_t len, int qos,
                        bool retain)
{
    int msg_id;
    if (s_client == NULL || !ec_esp32_connected()) {
        return EC_ERR_IO; /* the caller keeps the report in its ring */
    }
    /* Non-blocking: esp-mqtt copies the message into its outbox and retransmits a
     * QoS 1 message until it is acknowledged (store = true). */
    msg_id = esp_mqtt_client_enqueue(s_client, topic, (const char *)payload, (int)len, qos,
                                     retain ? 1 : 0, true);
    return msg_id < 0 ? EC_ERR_IO : 0;
}

void ec_platform_log(ec_log_level_t level, const char *msg)
{
    switch (level) {
    case EC_LOG_ERROR: ESP_LOGE(TAG, "%s", msg); break;
    case EC_LOG_WARN: ESP_LOGW(TAG, "%s", msg); break;
    case EC_LOG_INFO: ESP_LOGI(TAG, "%s", msg); break;
    default: ESP_LOGD(TAG, "%s", msg); break;
    }
}

int ec_platform_storage_get(const char *key, char *value, size_t cap)
{
    nvs_handle_t h;
    size_t len = cap;
    esp_err_t err = nvs_open(NVS_NAMESPACE, NVS_READONLY, &h);
    if (err != ESP_OK) {
        return EC_ERR_NOT_FOUND; /* namespace not created yet: nothing stored */
    }
    err = nvs_get_str(h, key, value, &len);
    nvs_close(h);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        return EC_ERR_NOT_FOUND;
    }
    if (err == ESP_ERR_NVS_INVALID_LENGTH) {
        return EC_ERR_NOSPACE;
    }
    return err == ESP_OK ? 0 : EC_ERR_IO;
}

int ec_platform_storage_set(const char *key, const char *value)
{
    nvs_handle_t h;
    esp_err_t err = nvs_open(NVS_NAMESPACE, NVS_READWRITE, &h);
    if (err != ESP_OK) {
        return EC_ERR_IO;
    }
    err = nvs_set_str(h, key, value);
    if (err == ESP_OK) {
        err = nvs_commit(h);
    }
    nvs_close(h);
    return err == ESP_OK ? 0 : EC_ERR_IO;
}

uint32_t ec_esp32_next_epoch(void)
{
    nvs_handle_t h;
    uint32_t epoch = 0;
    if (nvs_open(NVS_NAMESPACE, NVS_READWRITE, &h) != ESP_OK) {
        return (uint32_t)(esp_timer_get_time() & 0xffffffff);
    }
    (void)nvs_get_u32(h, "epoch", &epoch);
    epoch++;
    if (nvs_set_u32(h, "epoch", epoch) != ESP_OK || nvs_commit(h) != ESP_OK) {
        ESP_LOGW(TAG, "could not persist the epoch counter");
    }
    nvs_close(h);
    return epoch;
}
