#pragma once
#include <stdint.h>
#include "esp_err.h"
#include "esp_event.h"
typedef struct esp_mqtt_client *esp_mqtt_client_handle_t;
typedef enum { MQTT_EVENT_ANY = -1, MQTT_EVENT_CONNECTED = 1, MQTT_EVENT_DISCONNECTED, MQTT_EVENT_DATA = 6 } esp_mqtt_event_id_t;
typedef struct { esp_mqtt_event_id_t event_id; esp_mqtt_client_handle_t client; char *data; int data_len; int total_data_len; int current_data_offset; char *topic; int topic_len; int msg_id; } esp_mqtt_event_t;
typedef esp_mqtt_event_t *esp_mqtt_event_handle_t;
typedef struct {
  struct { struct { const char *uri; } address;
           struct { const char *certificate; size_t certificate_len; } verification; } broker;
  struct { const char *username; const char *client_id;
           struct { const char *password; } authentication; } credentials;
  struct { struct { const char *topic; const char *msg; int msg_len; int qos; int retain; } last_will; int keepalive; } session;
  struct { int size; } buffer;
} esp_mqtt_client_config_t;
esp_mqtt_client_handle_t esp_mqtt_client_init(const esp_mqtt_client_config_t *);
esp_err_t esp_mqtt_client_register_event(esp_mqtt_client_handle_t, int32_t, esp_event_handler_t, void *);
esp_err_t esp_mqtt_client_start(esp_mqtt_client_handle_t);
int esp_mqtt_client_enqueue(esp_mqtt_client_handle_t, const char *, const char *, int, int, int, _Bool);
int esp_mqtt_client_subscribe(esp_mqtt_client_handle_t, const char *, int);
int esp_mqtt_client_unsubscribe(esp_mqtt_client_handle_t, const char *);
