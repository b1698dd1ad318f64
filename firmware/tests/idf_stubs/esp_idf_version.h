#pragma once
/* Set by app-check per variant (-DEC_STUB_IDF_MINOR=...); v5.3 by default. */
#ifndef EC_STUB_IDF_MINOR
#define EC_STUB_IDF_MINOR 3
#endif
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR EC_STUB_IDF_MINOR
#define ESP_IDF_VERSION_PATCH 0
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define ESP_IDF_VERSION ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH)
