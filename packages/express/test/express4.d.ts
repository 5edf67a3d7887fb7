// Express 4 installed under an alias for the tests that run both majors.
declare module 'express4' {
  import express from 'express';
  export default express;
}
