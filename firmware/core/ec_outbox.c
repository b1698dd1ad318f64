#include "ec_outbox.h"

#include "ec_platform.h"

int ec_outbox_init(ec_outbox_t *ob, ec_ring_t *ring, const char *topic)
{
    if (ob == NULL || ring == NULL || topic == NULL) {
        return EC_ERR_ARG;
    }
    ob->ring = ring;
    ob->topic = topic;
    ob->sent = 0;
    ob->queued = 0;
    return EC_OK;
}

int ec_outbox_send(ec_outbox_t *ob, const uint8_t *data, size_t len, bool has_frame,
                   bool *was_sent)
{
    int rc;
    if (was_sent != NULL) {
        *was_sent = false;
    }
    if (ob == NULL || (data == NULL && len > 0)) {
        return EC_ERR_ARG;
    }
    /* Older reports wait in the ring: a new one must not overtake them. */
    if (ec_ring_count(ob->ring) == 0 &&
        ec_platform_publish(ob->topic, data, len, 1, false) == 0) {
        ob->sent++;
        if (was_sent != NULL) {
            *was_sent = true;
        }
        return EC_OK;
    }
    rc = ec_ring_push(ob->ring, data, len, has_frame);
    if (rc == EC_OK) {
        ob->queued++;
    }
    return rc;
}

int ec_outbox_drain(ec_outbox_t *ob, int max)
{
    int sent = 0;
    if (ob == NULL) {
        return EC_ERR_ARG;
    }
    while (sent < max) {
        const uint8_t *data;
        size_t len;
        if (ec_ring_peek(ob->ring, &data, &len, NULL) != EC_OK) {
            break;
        }
        if (ec_platform_publish(ob->topic, data, len, 1, false) != 0) {
            break; /* stays first in line */
        }
        (void)ec_ring_pop(ob->ring);
        ob->sent++;
        sent++;
    }
    return sent;
}
