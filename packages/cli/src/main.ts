import { PROTOCOL_VERSION } from '@fedval/protocol';
console.log(JSON.stringify({ v: PROTOCOL_VERSION }));
