// "Pod storm": N pods start at once and each pulls the same 5-layer image
// (manifest by tag, config, layers with a few parallel downloads, as
// containerd does), verifying every digest.
import { BenchError } from '../client.js';
import { Registry } from '../oci.js';
import { HttpClient } from '../client.js';
import { Samples } from '../stats.js';
import { pool, type Scenario } from './types.js';

export const podStorm: Scenario = {
  id: 'pod-storm',
  title: 'pod storm (concurrent image pulls)',
  unit: 'pulls/s',
  latencyLabel: 'pull',
  seeds: ['pod'],
  enabled: (cfg) => cfg.stormPods > 0,
  async run({ reg, cfg, fx }) {
    const p = fx.pod;
    // every pod is its own client: one agent with room for all their connections
    const http = new HttpClient(reg.http.baseUrl, cfg.stormPods * cfg.stormLayerConcurrency + 16);
    http.auth = reg.http.auth; // tokens are cached per scope, like the rest of the run
    const podReg = new Registry(reg.name, http);
    const lat = new Samples();
    try {
      const pullOne = async () => {
        await podReg.getManifest(p.repo, p.tag, p.manifest);
        const cfgRes = await http.request({ method: 'GET', path: `/v2/${p.repo}/blobs/${p.configDesc.digest}`, expect: 200, sink: 'hash' });
        if (cfgRes.digest !== p.configDesc.digest) throw new BenchError(`pod pull: config sha256 ${cfgRes.digest} != ${p.configDesc.digest}`);
        await pool(p.layers.length, cfg.stormLayerConcurrency, async (i) => {
          const l = p.layers[i]!;
          await podReg.pullBlob(p.repo, l.digest, l.size);
        });
      };
      const seconds = await pool(cfg.stormPods, cfg.stormPods, pullOne, lat);
      for (const d of podReg.deviations) reg.deviation(d);
      return { work: cfg.stormPods, seconds, latenciesMs: lat.values() };
    } finally {
      http.close();
    }
  },
};
