#pragma once
#include <stdio.h>
#define ESP_LOGE(tag, fmt, ...) printf("%s" fmt "\n", tag, ##__VA_ARGS__)
#define ESP_LOGW ESP_LOGE
#define ESP_LOGI ESP_LOGE
#define ESP_LOGD ESP_LOGE
