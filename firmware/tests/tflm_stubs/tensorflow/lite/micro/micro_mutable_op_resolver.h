/* Stub: the TFLM op resolver API model_runner.cc uses (see ../../../README.md). */
#ifndef EC_STUB_TFLM_MICRO_MUTABLE_OP_RESOLVER_H
#define EC_STUB_TFLM_MICRO_MUTABLE_OP_RESOLVER_H

#include "tensorflow/lite/micro/micro_interpreter.h"

namespace tflite {

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
  public:
    TfLiteStatus AddConv2D();
    TfLiteStatus AddMaxPool2D();
    TfLiteStatus AddReshape();
    TfLiteStatus AddFullyConnected();
    TfLiteStatus AddSoftmax();
    TfLiteStatus AddExpandDims();
    TfLiteStatus AddMean();
    TfLiteStatus AddTranspose();
};

}  // namespace tflite

#endif
