#pragma once
#include <stdint.h>
#include "esp_err.h"
#include "esp_event.h"
#include "esp_netif.h"
extern esp_event_base_t WIFI_EVENT, IP_EVENT;
enum { WIFI_EVENT_STA_START = 2, WIFI_EVENT_STA_DISCONNECTED = 5 };
enum { IP_EVENT_STA_GOT_IP = 0 };
typedef struct { esp_netif_ip_info_t ip_info; } ip_event_got_ip_t;
typedef struct { int dummy; } wifi_init_config_t;
#define WIFI_INIT_CONFIG_DEFAULT() {0}
typedef enum { WIFI_AUTH_OPEN, WIFI_AUTH_WPA2_PSK } wifi_auth_mode_t;
typedef struct { uint8_t ssid[32]; uint8_t password[64]; struct { wifi_auth_mode_t authmode; } threshold; } wifi_sta_config_t;
typedef union { wifi_sta_config_t sta; } wifi_config_t;
typedef enum { WIFI_MODE_STA = 1 } wifi_mode_t;
typedef enum { WIFI_IF_STA = 0 } wifi_interface_t;
esp_err_t esp_wifi_init(const wifi_init_config_t *);
esp_err_t esp_wifi_set_mode(wifi_mode_t);
esp_err_t esp_wifi_set_config(wifi_interface_t, wifi_config_t *);
esp_err_t esp_wifi_start(void);
esp_err_t esp_wifi_connect(void);
