#include "ec_topics.h"

#include <string.h>

#include "ec_report.h"

int ec_topic_build(char *buf, size_t cap, const char *prefix, const char *device_id,
                   ec_topic_kind_t kind)
{
    static const char *const leaves[] = {"report", "state", "config", "ota"};
    const char *parts[5];
    size_t len = 0;
    size_t i;
    if (buf == NULL || prefix == NULL || prefix[0] == '\0' || !ec_id_valid(device_id) ||
        (unsigned)kind > (unsigned)EC_TOPIC_OTA) {
        return EC_ERR_ARG;
    }
    parts[0] = prefix;
    parts[1] = "/dev/";
    parts[2] = device_id;
    parts[3] = "/";
    parts[4] = leaves[kind];
    for (i = 0; i < 5; i++) {
        size_t n = strlen(parts[i]);
        if (n >= cap - len) {
            return EC_ERR_NOSPACE;
        }
        memcpy(buf + len, parts[i], n);
        len += n;
    }
    buf[len] = '\0';
    return len > EC_TOPIC_MAX ? EC_ERR_RANGE : EC_OK;
}
