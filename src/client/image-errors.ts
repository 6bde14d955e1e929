// A request of the image workflows that cannot be done as asked (an image
// the source does not hold, a platform an index lacks, a name that fits
// several images): a message for the user and what to do instead. Front
// ends show both; nothing is retried.
export class ImageWorkflowError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ImageWorkflowError';
  }
}
