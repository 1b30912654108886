// Produces messages with kafkajs, then consumes them back in a consumer
// group, and checks every one arrived once with its key and headers.
// Usage: LOFT_KAFKA=127.0.0.1:9092 node roundtrip.js
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const broker = process.env.LOFT_KAFKA;
const topic = 'kafkajs-topic';
const count = 1000;

async function main() {
  const kafka = new Kafka({ clientId: 'loft-interop', brokers: [broker], logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (let i = 0; i < count; i += 100) {
    const messages = [];
    for (let j = i; j < i + 100; j++) {
      messages.push({ key: `k${j}`, value: `v${j}`, headers: { seq: String(j) } });
    }
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-group' });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen.size} of ${count}`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        const j = Number(message.headers.seq.toString());
        if (message.key.toString() !== `k${j}` || message.value.toString() !== `v${j}`) {
          reject(new Error(`message ${j} arrived as ${message.key}=${message.value}`));
        }
        if (seen.has(j)) {
          reject(new Error(`message ${j} arrived twice`));
        }
        seen.add(j);
        if (seen.size === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  console.log(`kafkajs: ${seen.size} messages produced and consumed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
