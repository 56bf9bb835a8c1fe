/** Serves files of one directory on 127.0.0.1 (for the shipped samples): the same server as `npm run samples`. */
export { serveDirectory, type SampleServer } from '../../bench/sample-server';
