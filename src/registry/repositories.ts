// Resolving repository names to their rows, with the OCI error for a
// repository the registry has never seen.
import type { Metadata } from '../db/metadata.js';
import type { RepositoryName } from '../formats/reference.js';
import { RegistryError } from '../formats/error-codes.js';

export async function requireRepository(meta: Metadata, name: RepositoryName): Promise<number> {
  const id = await meta.findRepository(name);
  if (id === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, { name });
  return id;
}
