#include "ec_platform_host.h"

#include <stdio.h>
#include <string.h>

#include "ec_err.h"

uint64_t host_now_ms;
bool host_publish_fails;
bool host_storage_fails;
host_publish_t host_published[HOST_MAX_PUBLISHED];
int host_published_count;

static struct {
    char key[16];
    char value[1600]; /* the CA (ca_cert) is the longest value */
} store[HOST_MAX_KEYS];
static int store_count;

void host_platform_reset(void)
{
    host_now_ms = 0;
    host_publish_fails = false;
    host_storage_fails = false;
    host_published_count = 0;
    store_count = 0;
}

uint64_t ec_platform_now_ms(void)
{
    return host_now_ms;
}

int ec_platform_publish(const char *topic, const uint8_t *payload, size_t len, int qos,
                        bool retain)
{
    host_publish_t *p;
    if (host_publish_fails || host_published_count >= HOST_MAX_PUBLISHED ||
        len > HOST_MAX_PAYLOAD || strlen(topic) >= sizeof p->topic) {
        return EC_ERR_IO;
    }
    p = &host_published[host_published_count++];
    strcpy(p->topic, topic);
    memcpy(p->payload, payload, len);
    p->len = len;
    p->qos = qos;
    p->retain = retain;
    return 0;
}

void ec_platform_log(ec_log_level_t level, const char *msg)
{
    (void)level;
    (void)msg;
}

int ec_platform_storage_get(const char *key, char *value, size_t cap)
{
    int i;
    for (i = 0; i < store_count; i++) {
        if (strcmp(store[i].key, key) == 0) {
            if (strlen(store[i].value) >= cap) {
                return EC_ERR_NOSPACE;
            }
            strcpy(value, store[i].value);
            return 0;
        }
    }
    return EC_ERR_NOT_FOUND;
}

int ec_platform_storage_set(const char *key, const char *value)
{
    int i;
    if (host_storage_fails || strlen(key) >= sizeof store[0].key ||
        strlen(value) >= sizeof store[0].value) {
        return EC_ERR_IO;
    }
    for (i = 0; i < store_count; i++) {
        if (strcmp(store[i].key, key) == 0) {
            strcpy(store[i].value, value);
            return 0;
        }
    }
    if (store_count >= HOST_MAX_KEYS) {
        return EC_ERR_IO;
    }
    strcpy(store[store_count].key, key);
    strcpy(store[store_count].value, value);
    store_count++;
    return 0;
}
