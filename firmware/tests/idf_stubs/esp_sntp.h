#pragma once
typedef enum { ESP_SNTP_OPMODE_POLL } esp_sntp_operatingmode_t;
void esp_sntp_setoperatingmode(esp_sntp_operatingmode_t);
void esp_sntp_setservername(unsigned char, const char *);
void esp_sntp_init(void);
