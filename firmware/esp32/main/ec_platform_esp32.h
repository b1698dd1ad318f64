/* ec_platform_esp32.h - ESP32 extras around the ec_platform.h seams. */
#ifndef EC_PLATFORM_ESP32_H
#define EC_PLATFORM_ESP32_H

#include <stdbool.h>
#include <stdint.h>

#include "mqtt_client.h"

/* The MQTT client ec_platform_publish() uses, and whether it is connected now. */
void ec_esp32_bind_mqtt(esp_mqtt_client_handle_t client);
void ec_esp32_set_connected(bool connected);
bool ec_esp32_connected(void);

/* Boot counter kept in NVS: a new epoch on every start, so (device, epoch, seq)
 * never repeats. */
uint32_t ec_esp32_next_epoch(void);

#endif
