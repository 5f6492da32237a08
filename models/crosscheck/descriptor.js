#!/usr/bin/env node
// Computes the face-api (TF.js, pure-JS CPU backend) face descriptor of a
// 150x150 RGB chip, using dlib's input normalisation.
//
// usage: node descriptor.js MODEL_DIR CHIP.rgb [CHIP.rgb ...]
//   MODEL_DIR  directory holding face_recognition_model-weights_manifest.json
//              and face_recognition_model.bin (face-api's model/ folder)
//   CHIP.rgb   raw 150*150*3 bytes, row-major RGB
// Prints one JSON array of 128 numbers per chip, one per line.
//
// face-api normalises with (p - mean) / 255 where dlib uses (p - mean) / 256
// (means R 122.782, G 117.001, B 104.298). Everything after the input
// normalisation is linear up to the first ReLU, so we feed face-api
// p' = mean + (p - mean) * 255 / 256, for which (p' - mean) / 255 equals
// dlib's (p - mean) / 256.
'use strict';

const fs = require('fs');
const path = require('path');

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) {
    process.stderr.write('usage: node descriptor.js MODEL_DIR CHIP.rgb [CHIP.rgb ...]\n');
    process.exit(2);
  }
  const faceapi = require('@vladmandic/face-api');
  const tf = faceapi.tf;
  await tf.setBackend('cpu');
  await tf.ready();
  if (tf.getBackend() !== 'cpu') throw new Error(`backend is ${tf.getBackend()}, want cpu`);

  const net = faceapi.nets.faceRecognitionNet;
  await net.loadFromDisk(path.resolve(args[0]));

  const mean = [122.782, 117.001, 104.298];
  const size = 150;
  for (const chipPath of args.slice(1)) {
    const buf = fs.readFileSync(chipPath);
    if (buf.length !== size * size * 3) throw new Error(`${chipPath}: ${buf.length} bytes, want ${size * size * 3}`);
    const px = new Float32Array(buf.length);
    for (let i = 0; i < buf.length; i++) {
      const m = mean[i % 3];
      px[i] = m + (buf[i] - m) * (255 / 256);
    }
    const input = tf.tensor3d(px, [size, size, 3], 'float32');
    const out = await net.computeFaceDescriptor(input);
    input.dispose();
    process.stdout.write(JSON.stringify(Array.from(out)) + '\n');
  }
}

main().catch((err) => {
  process.stderr.write(`descriptor.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
