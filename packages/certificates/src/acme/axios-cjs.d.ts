// The CommonJS build of axios, the very file acme-client require()s: importing it (rather than
// 'axios', whose ESM entry a bundler would pick for an import) keeps one axios in dist/main.js.
declare module 'axios/dist/node/axios.cjs' {
  import type { AxiosStatic } from 'axios';

  const axios: AxiosStatic;
  export default axios;
}
