import { extract, pack } from 'tar-stream';
const p = pack();
const e = extract();
export const x = [p, e];
