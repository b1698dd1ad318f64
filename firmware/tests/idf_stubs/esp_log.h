#pragma once
#include <stdio.h>
#define ESP_LOGE(tag, fmt, ...) printf("%s" fmt "\n", tag, ##__VA_ARGS__)
#define ESP_LOGW ESP_LOGE
#define ESP_LOGI ESP_LOGE
#define ESP_LOGD ESP_LOGE
typedef enum { ESP_LOG_NONE, ESP_LOG_ERROR, ESP_LOG_WARN, ESP_LOG_INFO } esp_log_level_t;
void esp_log_level_set(const char *tag, esp_log_level_t level);
