export * from './env';
export * from './labels';
export * from './app-secret';
export * from './names';
export * from './parameters';
export * from './backup';
export * from './canary';
export * from './verify';
