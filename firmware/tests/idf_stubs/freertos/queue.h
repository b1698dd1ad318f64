#pragma once
#include "FreeRTOS.h"
typedef void *QueueHandle_t;
QueueHandle_t xQueueCreate(unsigned, unsigned);
BaseType_t xQueueOverwrite(QueueHandle_t, const void *);
BaseType_t xQueueReceive(QueueHandle_t, void *, TickType_t);
