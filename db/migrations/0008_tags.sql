CREATE TABLE "asset_tags" (
	"tag_id" uuid NOT NULL,
	"asset_id" uuid NOT NULL,
	CONSTRAINT "asset_tags_tag_id_asset_id_pk" PRIMARY KEY("tag_id","asset_id")
);
--> statement-breakpoint
CREATE TABLE "tags" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"rule" jsonb,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tags_name_unique" UNIQUE("name"),
	CONSTRAINT "tags_kind_check" CHECK ("tags"."kind" in ('static', 'dynamic')),
	CONSTRAINT "tags_rule_check" CHECK (("tags"."kind" = 'dynamic') = ("tags"."rule" is not null))
);
--> statement-breakpoint
ALTER TABLE "asset_tags" ADD CONSTRAINT "asset_tags_tag_id_tags_id_fk" FOREIGN KEY ("tag_id") REFERENCES "public"."tags"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "asset_tags" ADD CONSTRAINT "asset_tags_asset_id_assets_id_fk" FOREIGN KEY ("asset_id") REFERENCES "public"."assets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "asset_tags_asset_idx" ON "asset_tags" USING btree ("asset_id");