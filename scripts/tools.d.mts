export declare const projectRoot: string;
export declare const toolsDir: string;
export declare function venvBin(name: string): string;
export declare function findOnPath(name: string): string | undefined;
export declare function temporalCliPath(): string;
export declare function baoPath(): string;
